/* Strings that live and die together, kept in one allocation: a struct that owns several fixed
 * strings builds them with one call, checks one result and frees one pointer. */
#pragma once

#include <stddef.h>

/* Copies the n (> 0) strings of src, NULL read as "", into one allocation and points *dst[i] at
 * the copy of src[i]. *dst[0] is the allocation itself: free(*dst[0]) frees every copy. Returns
 * 0, or -ENOMEM with no *dst written. */
int strpack_copy(char **const dst[], const char *const src[], size_t n);
