/* SPDX-License-Identifier: Apache-2.0 */
/* Placeholder until the tests land. */
#include <criterion/criterion.h>
