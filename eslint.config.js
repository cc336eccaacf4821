// @ts-check
import tseslint from "typescript-eslint"

export default tseslint.config(
  { ignores: ["node_modules/**", ".data/**", "coverage/**", "test/types/**"] },
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname }
    },
    rules: {
      "@typescript-eslint/no-floating-promises": "error",
      "@typescript-eslint/no-explicit-any": "error",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/require-yield": "off",
      "@typescript-eslint/require-await": "off",
      "require-yield": "off",
      "@typescript-eslint/no-namespace": "off",
      "no-restricted-syntax": [
        "error",
        {
          selector: "MemberExpression[property.name='enterWith']",
          message:
            "AsyncLocalStorage#enterWith leaks context between units of work; use als.run (see src/AlsBridge.ts)."
        },
        {
          selector: "ExportDefaultDeclaration",
          message: "No default exports outside migrations."
        }
      ]
    }
  },
  {
    files: ["src/Sql/Migrations/**", "eslint.config.js", "vitest.config.ts"],
    rules: { "no-restricted-syntax": "off" }
  },
  {
    files: ["eslint.config.js"],
    ...tseslint.configs.disableTypeChecked
  }
)
