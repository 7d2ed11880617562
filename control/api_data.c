/* SPDX-License-Identifier: Apache-2.0 */
/* Placeholder until the module lands. */
typedef int sl_placeholder_api_data;
