#pragma once
// SPDX-License-Identifier: MIT
