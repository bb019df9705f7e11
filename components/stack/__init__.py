"""What both stacks share on the Pulumi side: config loading, generated secrets, stack outputs, the release
and its downgrade guard."""
