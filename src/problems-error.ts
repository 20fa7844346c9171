/**
 * An error that lists every problem found, one line each: configuration checks collect all
 * their messages and fail once (docs/configuration.md). A leaf module: the configuration
 * loader and the validators' own checks extend it, and keep their own class for `instanceof`.
 */
export class ProblemsError extends Error {
  /**
   * @param problems one line per problem, in the order found
   * @param message the error's message; default: the problems, one per line
   */
  constructor(
    readonly problems: readonly string[],
    message: string = problems.join('\n'),
  ) {
    super(message);
    this.name = new.target.name;
  }
}
