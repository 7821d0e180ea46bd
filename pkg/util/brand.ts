/** Nominal typing: a raw string or number never reaches a renderer without passing a parser. */
declare const brand: unique symbol;
export type Brand<T, B extends string> = T & { readonly [brand]: B };
