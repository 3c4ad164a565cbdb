"""What the service keeps and sends: the tables, the database engine and the hot-statement
pool, the Redis connection, the challenge store, rate-limit counters, migrations and the
outbox of mail."""
