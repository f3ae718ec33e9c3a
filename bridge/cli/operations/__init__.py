"""Commands that set up and run the service: init, config, db, doctor, serve, sync, operators."""
