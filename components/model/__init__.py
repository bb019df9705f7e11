"""The pure topology model: validated stack config, every weed process, rendered files. No Pulumi here."""
