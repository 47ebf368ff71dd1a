"""Test harness: a pytest plugin that starts the embedded broker and database once per session."""
