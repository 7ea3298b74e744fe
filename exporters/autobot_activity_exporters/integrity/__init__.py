"""Tamper evidence for the activity tables: a hash chain per writer, signed checkpoints kept
outside the database, a verifier, and retention that the chain understands.

``canonical`` (pure) says what is hashed; ``notes`` signs and reads C2SP signed notes;
``chain`` builds a writer's entries and checkpoints; ``verify`` walks what is stored;
``pruning`` removes whole batches and records it. docs/integrity.md is the reference.
"""
