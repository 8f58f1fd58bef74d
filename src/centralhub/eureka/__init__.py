"""Eureka's REST API (the subset Spring Cloud Netflix and Prometheus use) over the hub's registry."""
