"""Authentication, sessions, MFA, accounts and the authorization dependency."""
