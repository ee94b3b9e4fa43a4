"""`simpul`, the operators' command line. Commands on the system's data go through the gateway's
public API with an admin client (clients, officials, catalogue); commands on a machine's files
work locally (migrate, check, backup, restore, key rotation). It imports no service's code: the
services' own commands (`python -m simpul.<service> ...`) run as child processes."""
