/* Plans for the mla family: added with its templates (templates/family_mla.c). */
#include "plan.h"

const dsa_plan_family dsa_plans_mla = {0, 0};
