/** The package version, shown by --version and in the node's answers. */
export const version = '0.1.0';
