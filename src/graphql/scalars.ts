import { GraphQLScalarType, Kind } from 'graphql';
import { GraphQLDateTimeISO } from 'graphql-scalars';

/**
 * graphql-scalars' `DateTimeISO`, except that a string it cannot read passes on as an invalid `Date` instead of
 * failing validation: a bad date in a `lookupLogs` filter is then refused by the filter's own check, with
 * `BAD_USER_INPUT` and the field it is about, whether it came inline or as a variable. Output is unchanged.
 */
export const DateTimeISO = new GraphQLScalarType({
  ...GraphQLDateTimeISO.toConfig(),
  parseValue: (value) => {
    try {
      return GraphQLDateTimeISO.parseValue(value);
    } catch (error) {
      if (typeof value === 'string') return new Date(NaN);
      throw error;
    }
  },
  parseLiteral: (ast, variables) => {
    try {
      return GraphQLDateTimeISO.parseLiteral(ast, variables);
    } catch (error) {
      if (ast.kind === Kind.STRING) return new Date(NaN);
      throw error;
    }
  },
});
