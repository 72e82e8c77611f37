"""The services routes call: each plans with `translate` and runs through the pool."""
