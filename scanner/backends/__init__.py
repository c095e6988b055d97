"""Query backends: our reader (om) and pyACL on Atlas NPUs (acl)."""
