"""RQ job entry points. They take ids, never ORM objects, and are safe to run twice."""
