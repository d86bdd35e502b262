/* Intrusive doubly linked lists: the one list implementation of the daemon. Header-only.
 *
 * An element carries a DLIST_LINK field, and sits on one of two kinds of list through it:
 *   - a list whose head is a plain `struct x *` (DLIST_*): elements go in at the front and come
 *     out from anywhere, without the head (the link's pprev points at what points at the
 *     element: the head, or the previous element's next);
 *   - a queue whose head is a DQUEUE_HEAD, first and last (DQUEUE_*): elements go in at the back
 *     and come out from anywhere; removal keeps last right, so a queue's elements are removed
 *     with DQUEUE_REMOVE only.
 * Both end in NULL, and all zeros are a valid state (an empty list, an element on no list): the
 * structs that hold them come from calloc and need no init call. They are walked with ordinary
 * for loops over link.next; a loop whose body may unlink the element saves next first.
 *
 * Removal clears the link's pprev (DLIST_LINKED is then false, and removing again does nothing)
 * but leaves next as it was. A walk that saved a pointer to the next element can therefore still
 * step past it after a callback unlinked it, as long as its memory lives: droverd frees such
 * structs from a close callback, a loop iteration later (net/framed.c's shutdown relies on it).
 * Insertion overwrites the link, so an element may come from malloc.
 *
 * The links are typed pointers, so putting an element on a list of another type does not
 * compile. Each macro evaluates its arguments once (`DQUEUE_REMOVE(&q, q.first, f)` is fine).
 *
 * glibc's <sys/queue.h> was the other candidate. Its tail-queue heads crash until initialized
 * (ours are valid zeroed, as calloc leaves them), its list heads are structs where ours are plain
 * pointers, its FOREACH macros would need clang-format taught about them, and musl does not ship
 * it; a few dozen lines of our own cost less than working around those. */
#pragma once

#include <stddef.h>

#include "base/macro.h"

/* The link field of an element of type struct `tag`, as in BSD's LIST_ENTRY:
 * `DLIST_LINK(conn) link;` in struct conn. */
#define DLIST_LINK(tag)                                                                            \
    struct {                                                                                       \
        struct tag *next;   /* the next element, or NULL */                                        \
        struct tag **pprev; /* the pointer that points at this element; NULL when on no list */    \
    }

/* Whether elm is on a list now. */
#define DLIST_LINKED(elm, field) ((elm)->field.pprev != NULL)

/* Puts elm at the front of the list whose head pointer is at headp. */
#define DLIST_PREPEND(headp, elm, field)                                                           \
    do {                                                                                           \
        __typeof__(headp) dl_head_ = (headp);                                                      \
        __typeof__(elm) dl_elm_ = (elm);                                                           \
        dl_elm_->field.next = *dl_head_;                                                           \
        if (dl_elm_->field.next)                                                                   \
            dl_elm_->field.next->field.pprev = &dl_elm_->field.next;                               \
        dl_elm_->field.pprev = dl_head_;                                                           \
        *dl_head_ = dl_elm_;                                                                       \
    } while (0)

/* Takes elm off its list (a no-op when it is on none); elm's next is left as it was. */
#define DLIST_REMOVE(elm, field)                                                                   \
    do {                                                                                           \
        __typeof__(elm) dl_elm_ = (elm);                                                           \
        if (dl_elm_->field.pprev) {                                                                \
            if (dl_elm_->field.next)                                                               \
                dl_elm_->field.next->field.pprev = dl_elm_->field.pprev;                           \
            *dl_elm_->field.pprev = dl_elm_->field.next;                                           \
            dl_elm_->field.pprev = NULL;                                                           \
        }                                                                                          \
    } while (0)

/* A queue of elements of type struct `tag`, linked through a DLIST_LINK field. */
#define DQUEUE_HEAD(tag)                                                                           \
    struct {                                                                                       \
        struct tag *first; /* the oldest element, or NULL */                                       \
        struct tag *last;  /* the newest element, or NULL */                                       \
    }

/* Puts elm at the back of the queue q points at. */
#define DQUEUE_APPEND(q, elm, field)                                                               \
    do {                                                                                           \
        __typeof__(q) dq_head_ = (q);                                                              \
        __typeof__(elm) dq_elm_ = (elm);                                                           \
        dq_elm_->field.next = NULL;                                                                \
        dq_elm_->field.pprev = dq_head_->last ? &dq_head_->last->field.next : &dq_head_->first;    \
        *dq_elm_->field.pprev = dq_elm_;                                                           \
        dq_head_->last = dq_elm_;                                                                  \
    } while (0)

/* Takes elm off the queue q points at (a no-op when it is on none); elm's next is left as it
 * was. When elm was last, the new last is the element whose next pointed at it, found from
 * pprev, unless pprev is the head's own first. */
#define DQUEUE_REMOVE(q, elm, field)                                                               \
    do {                                                                                           \
        __typeof__(q) dq_head_ = (q);                                                              \
        __typeof__(elm) dq_elm_ = (elm);                                                           \
        if (dq_elm_->field.pprev) {                                                                \
            if (dq_elm_->field.next)                                                               \
                dq_elm_->field.next->field.pprev = dq_elm_->field.pprev;                           \
            else if (dq_elm_->field.pprev == &dq_head_->first)                                     \
                dq_head_->last = NULL;                                                             \
            else                                                                                   \
                dq_head_->last =                                                                   \
                    container_of(dq_elm_->field.pprev, __typeof__(*dq_elm_), field.next);          \
            *dq_elm_->field.pprev = dq_elm_->field.next;                                           \
            dq_elm_->field.pprev = NULL;                                                           \
        }                                                                                          \
    } while (0)
