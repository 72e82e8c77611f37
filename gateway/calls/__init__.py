"""Services the routes call: each plans a request, runs it through the pool, hands back answer pieces."""
