"""Machinery shared by our backends: keys, async twins, the operation guard, breakers, registries."""
