"""Write-back rules (pure): order-note wording, coupons, identities of what customers see."""
