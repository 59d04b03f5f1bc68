/** The built-in superuser of a new cluster. */
export const superuserName = 'elastic';
