terraform {
  required_version = ">= 1.5.0, < 2.0.0"

  required_providers {
    meshfed = {
      source  = "meshfed/meshfed"
      version = "= 0.1.0"
    }
  }
}
