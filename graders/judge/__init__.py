"""The trusted side: a session with one worker, the proxy checks call, and our pytest plugin."""
