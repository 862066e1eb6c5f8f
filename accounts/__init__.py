"""Accounts: users, their roles, passwords, API tokens and the checks every route goes through."""
