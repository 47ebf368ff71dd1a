"""Micro-community discovery in the service: per-tenant state, the detection scheduler and worker, stored
results and their outbox, the start-up replay, and the HTTP routes.

The algorithms are pure code in :mod:`kith_recommend.domain.microcommunities`; this package runs them
on the live state: :mod:`.state` (a tenant's graph and last detection), :mod:`.job` and :mod:`.worker`
(one detection, off the event loop), :mod:`.scheduler` (when, for whom, and what is kept and
announced), :mod:`.seeding` and :mod:`.erasures` (communities created for groups, erased members),
:mod:`.store` (the collections), :mod:`.announce` (contract events), :mod:`.outbox` (their relay),
:mod:`.metrics`, :mod:`.replay` (graphs rebuilt from the activity topic at start) and :mod:`.api`
(routes, with :mod:`.views`: what they answer).
"""
