"""Kith's development kit: what only tests, benchmarks and the local stack use, never a service.

- :mod:`kith_devkit.generator`: the seeded activity generator (the demo, tests, benchmarks).
- :mod:`kith_devkit.servers`: starts the embedded broker and database as child processes.
- :mod:`kith_devkit.testing`: the pytest plugin (servers per session, fresh names per test, a
  running service) and the ``eventually`` helper.
- :mod:`kith_devkit.contracts`: writes and checks the JSON Schemas and the AsyncAPI document.
- :mod:`kith_devkit.events`: events built by hand, and generated events marked as ingest publishes them.
- :mod:`kith_devkit.scale`: tenants at scale for benchmarks, from the generator.
"""
