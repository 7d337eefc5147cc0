"""From definitions to the DAG: templates, expansion into nodes, the DAG and its assembly from stacks."""
