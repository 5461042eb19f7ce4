// Loading fails, as when the optional native build is missing; superstatic then uses RegExp.
throw new Error('re2 is not installed (triad test stub)');
