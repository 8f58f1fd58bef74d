"""Hub replica membership: which replicas are alive, and which of them runs each shared duty."""
