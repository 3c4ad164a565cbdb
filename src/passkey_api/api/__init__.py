"""The HTTP edge: one router per area of the API, and the FastAPI dependencies they
share. A router reads the request, makes one call into a flow or the account model, and
shapes the answer; it holds no rules of its own."""
