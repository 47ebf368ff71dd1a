"""The console's routes: every page, as one module-level router made of the pages' routers."""

from __future__ import annotations

from fastapi import APIRouter

from kith_console.pages import groups, insights, members, operations, signin

router = APIRouter()
for module in (signin, insights, members, groups, operations):
    router.include_router(module.router)
