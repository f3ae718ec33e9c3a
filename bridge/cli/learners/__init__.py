"""Commands about learners: their accounts, rosters, credits and team-pack claims."""
