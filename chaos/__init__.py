"""`make chaos`: one campaign under every fault at once, judged only from the gateway's records."""
