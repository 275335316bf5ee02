"""Growing the audience: signup forms, double opt-in and the preference center (public pages under /f/ and /p/)."""
