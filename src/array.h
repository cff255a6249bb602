/* Growing arrays and buffers: the one place that doubles a capacity. */
#ifndef KNP_ARRAY_H
#define KNP_ARRAY_H

#include <stddef.h>

/* Make room for @need elements of @size bytes in the array at *(void **)@vp
 * whose capacity is *@cap elements: the capacity doubles from @min until it
 * fits; new room is zeroed. Returns 0, or -ENOMEM (on overflow too; then the
 * array and *@cap are unchanged). */
int array_reserve(void *vp, size_t *cap, size_t need, size_t size, size_t min);

#endif
