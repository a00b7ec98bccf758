/** Bad input from the user (a flag, a script, a config file): the CLI prints its message and exits 2. */
export class BadInputError extends Error {}
