"""Provider clients, one module per provider family; `providers.registry` loads them and picks one by key."""
