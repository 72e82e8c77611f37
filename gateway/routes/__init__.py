"""Thin Starlette handlers: authenticate, parse, validate, translate, call the pool, render."""
