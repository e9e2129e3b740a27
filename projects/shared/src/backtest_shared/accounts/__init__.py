"""Users of the platform (API keys are issued by the API's admin CLI)."""
