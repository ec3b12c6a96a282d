"""Who is calling: the company identity provider's tokens (oidc.py), roles from its groups (roles.py), and the
people and teams the proxy knows (people.py)."""
