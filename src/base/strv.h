/* NULL-terminated vectors of heap strings (argv, environments, name lists). */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* Frees every string and the vector; NULL is a no-op. */
void strv_free(char **v);
/* The number of strings; 0 for NULL. */
size_t strv_length(char *const *v);
/* A deep copy; NULL stays an empty vector. NULL only on out-of-memory. */
char **strv_copy(char *const *v);
/* Appends s (taken, freed on failure) to *v, whose length is *n. -ENOMEM for a NULL s. */
int strv_push(char ***v, size_t *n, char *s);
/* Same strings in the same order; NULL equals an empty vector. */
bool strv_equal(char *const *a, char *const *b);
