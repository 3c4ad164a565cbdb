"""Account recovery: one-time recovery codes and emailed links, restricted sessions."""
