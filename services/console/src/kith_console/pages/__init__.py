"""The console's pages, one module per area: sign-in, insights, members, micro-communities, operations."""
