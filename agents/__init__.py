"""Human agents who answer chats from Teams: who they are, which tenants they serve, how a
waiting chat finds one (no SDK)."""
