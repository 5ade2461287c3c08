"""The trusted side: a session with one worker, the proxy checks call, our pytest plugin and the pytest run of one submission."""
