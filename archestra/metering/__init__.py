"""Metering: interactions, token prices and cost, cost limits, optimisation rules, metrics."""
