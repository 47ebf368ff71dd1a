"""Pure recommendation logic: events to read-model changes, the in-memory model, ranking."""
