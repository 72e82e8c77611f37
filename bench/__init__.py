"""`make bench`: what the gateway costs over calling the (simulated) upstream directly."""
